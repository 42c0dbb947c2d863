"""Entry point for `python -m wirexa` and the PyInstaller binary."""

from wirexa.cli.main import main

if __name__ == "__main__":
    main()
