"""A small CodeDeploy emulator: local mode, tests and benchmarks run against it."""

from service.emulator.app import Emulator, Faults
from service.emulator.data import DEMO_ACCOUNTS, DEMO_DATA, DataError, EmulatorData, load_data
from service.emulator.errors import AwsError
from service.emulator.http import create_emulator_app
from service.emulator.server import serve_emulator

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_DATA",
    "AwsError",
    "DataError",
    "Emulator",
    "EmulatorData",
    "Faults",
    "create_emulator_app",
    "load_data",
    "serve_emulator",
]
