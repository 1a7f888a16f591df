"""``python -m simulator`` is ``loadsim``; ``main`` is the ``loadsim`` command's entry point too."""

from simulator import held


def main() -> int:
    held.hold()  # before the CLI's imports (simulator.held says why)
    from simulator.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
