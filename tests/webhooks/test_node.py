"""Deliveries as a Node receiver verifies them: the ``standardwebhooks`` package from npm,
which nobody here wrote, on the bytes and headers a real receiver got."""

import asyncio
import json
import subprocess
from pathlib import Path

from tests.support import LiveFactory, npm_install, npm_tool, until
from tests.webhooks.conftest import SECRET, Receiver
from tests.webhooks.test_delivery import hook, settings

VERIFY = """
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
const [secret, file] = process.argv.slice(2);
const verifier = new Webhook(secret);
const verified = [];
for (const { body, headers } of JSON.parse(readFileSync(file, "utf8"))) {
  verified.push(verifier.verify(body, headers).type);
  try {
    verifier.verify(body.replace("deployment", "Deployment"), headers);
    verified.push("a changed body verified");
  } catch (error) { /* as it should */ }
}
console.log(JSON.stringify(verified));
"""


@npm_tool
async def test_a_node_receiver_verifies_every_delivery(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    async with make_live(**settings(tmp_path, hook(receiver, events=["all"]))):
        await until(lambda: len(receiver.deliveries()) >= 5)  # group, deployment, instances
    where = await asyncio.to_thread(npm_install, tmp_path / "node", "standardwebhooks@1.3.0")
    (where / "verify.mjs").write_text(VERIFY)
    captured = [
        {"body": delivery.body.decode(), "headers": {k.lower(): v for k, v in delivery.headers.items()}}
        for delivery in receiver.deliveries()
    ]  # fmt: skip
    (tmp_path / "deliveries.json").write_text(json.dumps(captured))
    node = ["node", str(where / "verify.mjs"), SECRET, str(tmp_path / "deliveries.json")]
    done = await asyncio.to_thread(
        subprocess.run, node, capture_output=True, text=True, check=True, timeout=60
    )
    out = done.stdout
    verified = json.loads(out)
    assert len(verified) == len(captured)
    assert "a changed body verified" not in verified
    assert {"group.changed", "deployment.inprogress", "instance.changed"} <= set(verified)
