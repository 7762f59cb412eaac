"""Regenerate the Python code for the v1 API from protos/ (one command: `python protos/generate.py`).

The generated files are committed under speechsense/v1/ so that installs need no protoc;
tests/test_protos.py regenerates into a temporary folder and fails when they are stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "speechsense").rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) over every .proto, writing speechsense/v1/*_pb2*.py into out_dir."""
    import grpc_tools
    from grpc_tools import protoc  # dev dependency only

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="folder that receives speechsense/v1/")
    args = parser.parse_args()
    generate(args.out)
    print(f"generated {', '.join(proto_files())} into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
