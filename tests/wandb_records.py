"""Read what an offline W&B run recorded (its run-*.wandb file), for tests.

The file is a LevelDB-style log (32 KiB blocks of records with a 7-byte header: CRC,
length, type FULL / FIRST / MIDDLE / LAST) after a 7-byte W&B header; each record is a
``wandb_internal_pb2.Record`` protobuf.
"""

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    offset, pending = 7, b""
    while offset + 7 <= len(data):
        left = BLOCK - offset % BLOCK
        if left < 7:  # block trailer: padding
            offset += left
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        offset += 7
        chunk, offset = data[offset : offset + length], offset + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


def offline_run(run_dir: Path) -> tuple[dict, dict]:
    """(summary, config) of an ``offline-run-*`` directory, values decoded from JSON."""
    (path,) = run_dir.glob("run-*.wandb")
    summary: dict = {}
    config: dict = {}
    for payload in _payloads(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                config[item.key] = json.loads(item.value_json)
    return summary, config


def exit_code(run_dir: Path) -> int | None:
    """The exit code an offline run was finished with (None: never finished)."""
    (path,) = run_dir.glob("run-*.wandb")
    code = None
    for payload in _payloads(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "exit":
            code = record.exit.exit_code
    return code
