"""Command line: ``python -m dualdiff bench [--quick] [--peers] [--plot FILE.png]``."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] != "bench":
        print("usage: python -m dualdiff bench [--quick] [--peers] [--plot FILE.png] [--fit]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from dualdiff import bench

    bench.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
