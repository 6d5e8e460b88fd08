"""``python -m pharmacy_sim --port N [--host 127.0.0.1] [--verbose]``."""

import sys
from pathlib import Path

# The simulator reuses prescriptions.ncpdp / prescriptions.signing from the repository it ships in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pharmacy_sim.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
