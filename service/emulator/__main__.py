"""``python -m service.emulator``: the emulator alone, for the AWS CLI or any SDK."""

import argparse
import sys
from pathlib import Path

import uvicorn

from service.emulator import DataError, Emulator, Faults, create_emulator_app, load_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.emulator", description="A local CodeDeploy endpoint."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--data", type=Path, help="data file (default: the built-in demo data)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="0..1 of calls throttled")
    parser.add_argument("--error-rate", type=float, default=0.0, help="0..1 of calls failing 500")
    parser.add_argument(
        "--not-json-rate", type=float, default=0.0, help="0..1 of calls answered with HTML"
    )
    parser.add_argument(
        "--truncated-rate", type=float, default=0.0, help="0..1 of calls cut off mid-body"
    )
    parser.add_argument(
        "--page-size", type=int, default=100, help="ids per List* page (default 100)"
    )
    args = parser.parse_args(argv)
    try:
        data = load_data(args.data)
    except DataError as exc:
        print(f"emulator: cannot load data: {exc}", file=sys.stderr)
        return 2
    faults = Faults(
        args.latency_ms / 1000,
        args.throttle_rate,
        args.error_rate,
        args.not_json_rate,
        args.truncated_rate,
    )
    app = create_emulator_app(Emulator(data, faults, page_size=args.page_size))
    print(
        f"CodeDeploy emulator on http://{args.host}:{args.port}\n"
        f"  aws deploy get-deployment-instance --endpoint-url http://{args.host}:{args.port} "
        "--region us-east-1 --deployment-id d-EXAMPLE01 --instance-id i-0a1b2c3d4e5f60002",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
