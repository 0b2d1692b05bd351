"""Copy the browser tours' screenshots that the README shows into docs/screenshots/.

Run after the browser tests (`pytest tests/browser`), which save every page under
test-artifacts/screenshots/:

    .venv/bin/python -m tests.browser.publish_screenshots

Each picture is reduced to a 256-colour palette, which keeps the GUI's flat colours and text
sharp at a fraction of the size, so the repository does not grow by megabytes per update.
A missing screenshot stops the copy before anything is written: the published set stays
from one run of the tours.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test-artifacts" / "screenshots"
TARGET = ROOT / "docs" / "screenshots"

# docs/screenshots/<name> ← test-artifacts/screenshots/<shot>
PUBLISHED = {
    "dashboard.png": "03-dashboard.png",
    "member.png": "04-member.png",
    "refused-taps.png": "04b-refused-taps.png",
    "bulk-booking.png": "05-bulk-booking.png",
    "bulk-preview.png": "05b-bulk-preview.png",
    "storno-confirm.png": "05c-storno-confirm.png",
    "journal.png": "06-journal.png",
    "dashboard-dark.png": "11-dashboard-dark.png",
    "phone-dashboard.png": "13-phone-dashboard.png",
    "member-en.png": "16-member-en.png",
    "phone-member.png": "17-phone-member.png",
    "member-home.png": "member-home.png",
    "member-qr.png": "member-qr.png",
}


def publish(source: Path = SOURCE, target: Path = TARGET) -> list[tuple[str, int]]:
    """Write every published screenshot as a palette PNG; (name, bytes) of each."""
    missing = [shot for shot in PUBLISHED.values() if not (source / shot).is_file()]
    if missing:
        raise SystemExit(f"missing in {source}: {', '.join(missing)} (run the browser tests)")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, shot in PUBLISHED.items():
        with Image.open(source / shot) as image:
            palette = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
            palette.save(target / name, optimize=True)
        written.append((name, (target / name).stat().st_size))
    return written


def main() -> None:
    for name, size in publish():
        print(f"{TARGET.relative_to(ROOT) / name}  {size // 1024} KB")


if __name__ == "__main__":
    sys.exit(main())
