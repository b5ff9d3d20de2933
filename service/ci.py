"""``python -m service wait``: a pipeline's wait for a deployment, through a gateway.

For a CI system outside AWS that holds only the gateway's URL and a key. It follows the
deployment with blocking reads (``?wait=`` with ``If-None-Match``: one request a change,
riding the gateway's watcher, so a hundred pipelines cost CodeDeploy what one does), prints
one line per change, rides out the gateway's restarts, and exits by the outcome. The key
comes from ``CODEDEPLOY_GATEWAY_KEY``, never an argument: arguments show in process lists
and CI logs. Standard library only, so it runs wherever Python does.
"""

import http.client
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

SUCCEEDED, FAILED, TIMED_OUT, REFUSED = 0, 1, 2, 3
KEY_VARIABLE = "CODEDEPLOY_GATEWAY_KEY"
# One blocking read at most this long: well under GATEWAY_MAX_WAIT_SECONDS' default (300)
# and under the idle timeouts of the proxies between a pipeline and the gateway.
READ_SECONDS = 60.0
# Retries while the gateway restarts or is unreachable: 1 s, doubling, at most 15 s.
RETRY_SECONDS, MOST_RETRY_SECONDS = 1.0, 15.0
LOG_TAIL_LINES = 20
FINAL = {"Succeeded": SUCCEEDED, "Failed": FAILED, "Stopped": FAILED}
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh]?)")


def duration(text: str) -> float:
    """``90s``, ``45m``, ``2h`` or plain seconds, in seconds."""
    matched = DURATION.fullmatch(text.strip())
    if matched is None:
        raise ValueError(f"not a duration: {text!r} (say 90s, 45m or 2h)")
    return float(matched[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[matched[2]]


class Unreachable(Exception):
    """No answer from the gateway: refused, reset, timed out."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Gateway:
    """The gateway's REST API, as a pipeline calls it."""

    url: str
    key: str | None = None

    def get(
        self, path: str, params: dict[str, str], headers: dict[str, str], timeout: float
    ) -> Answer:
        query = urllib.parse.urlencode(params, doseq=True)
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}?{query}")
        for name, value in headers.items():
            request.add_header(name, value)
        if self.key:  # never sent on to wherever a redirect points
            request.add_unredirected_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return _answer(error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise Unreachable(str(getattr(error, "reason", error))) from error


def _answer(status: int, headers: Any, raw: bytes) -> Answer:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)


@dataclass
class Waiter:
    """One deployment followed to its end or to the deadline."""

    gateway: Gateway
    deployment_id: str
    out: TextIO = sys.stdout
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _said: str = field(default="", init=False)

    def run(self, timeout: float) -> int:
        try:
            return self._run(timeout)
        except ValueError as error:  # not a gateway URL at all
            self.say(f"the gateway cannot be asked: {error}")
            return REFUSED

    def _run(self, timeout: float) -> int:
        deadline = self.clock() + timeout
        entity_tag, retry, reached, first = None, RETRY_SECONDS, True, True
        path = f"/v1/deployments/{urllib.parse.quote(self.deployment_id, safe='')}"
        while (left := deadline - self.clock()) > 0:
            # The deployment as it is first; then one blocking read a change.
            wait = 0.0 if first else min(READ_SECONDS, left)
            headers: dict[str, str] = {"If-None-Match": entity_tag} if entity_tag else {}
            try:
                answer = self.gateway.get(path, {"wait": str(math.ceil(wait))}, headers, wait + 30)
            except Unreachable as error:
                reached = False
                self.say(f"the gateway cannot be reached ({error}); retrying")
            else:
                reached = True
                if answer.status == 304:
                    continue
                if answer.status not in (200, 429, 502, 503, 504):
                    self.say(f"the gateway refused: {_problem(answer)}")
                    return REFUSED
                if answer.status == 200:
                    info = answer.body.get("deploymentInfo")
                    if not isinstance(info, dict):
                        self.say("the URL answers, but not as a codedeploy-gateway does")
                        return REFUSED
                    retry, first = RETRY_SECONDS, False
                    entity_tag = answer.headers.get("etag")
                    self.say(_line(info))
                    if (outcome := FINAL.get(info.get("status", ""))) is not None:
                        if outcome == FAILED:
                            self.failures(info)
                        return outcome
                    continue
                self.say(f"the gateway answered {answer.status}; retrying")
                retry = max(retry, float(answer.headers.get("retry-after", 0) or 0))
            self.sleep(min(retry, max(0.0, deadline - self.clock())))
            retry = min(retry * 2, MOST_RETRY_SECONDS)
        self.say(
            "the gateway could not be reached before the timeout"
            if not reached
            else "the deployment did not finish before the timeout"
        )
        return TIMED_OUT if reached else REFUSED

    def failures(self, info: dict[str, Any]) -> None:
        """Each failed instance's or target's failing lifecycle event, script and log tail."""
        error = info.get("errorInformation") or {}
        if error:
            self.say(f"  {error.get('code', '')}: {error.get('message', '')}")
        kind = "instances" if info.get("computePlatform") == "Server" else "targets"
        path = f"/v1/deployments/{urllib.parse.quote(self.deployment_id, safe='')}/{kind}"
        params = {"status": "Failed", "include": "summary", "pageSize": "100"}
        try:
            answer = self.gateway.get(path, params, {}, READ_SECONDS)
        except Unreachable:
            return
        items = answer.body.get("instancesSummary") or [
            next((value for value in target.values() if isinstance(value, dict)), {})
            for target in answer.body.get("deploymentTargets", [])
        ]
        for item in items:
            name = item.get("instanceId") or item.get("targetId")
            for event in item.get("lifecycleEvents", []):
                if event.get("status") != "Failed":
                    continue
                diagnostics = event.get("diagnostics") or {}
                self.say(
                    f"  {name}: {event.get('lifecycleEventName')} failed "
                    f"({diagnostics.get('errorCode', '')}) in {diagnostics.get('scriptName', '')}"
                )
                for line in (diagnostics.get("logTail") or "").splitlines()[-LOG_TAIL_LINES:]:
                    self.say(f"    | {line}")

    def say(self, line: str) -> None:
        if line != self._said:  # one line a change, not one a read
            print(line, file=self.out, flush=True)
            self._said = line


def _line(info: dict[str, Any]) -> str:
    overview = info.get("deploymentOverview") or {}
    counts = ", ".join(f"{name} {count}" for name, count in overview.items() if count)
    return f"{info.get('deploymentId')} {info.get('status')}" + (f" ({counts})" if counts else "")


def _problem(answer: Answer) -> str:
    body = answer.body
    return f"{answer.status} {body.get('code', '')} {body.get('detail', '')}".strip()
