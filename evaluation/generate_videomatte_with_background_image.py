"""VideoMatte240K clips composited over background images (the paper's VM test sets, static backgrounds).

Writes OUT/NNNN/{fgr,pha,bgr,com}/TTTT.png (see evaluation/testset.py). For the 512x288 test set:

    python evaluation/generate_videomatte_with_background_image.py \\
        --videomatte-dir VideoMatte240K_JPEG_HD/test --background-dir Backgrounds/valid \\
        --num-samples 25 --resize 512 288 --out-dir videomatte_512x288/videomatte_static
"""
import sys
from functools import partial
from pathlib import Path

if __package__ in (None, ''):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.common import run_cli
from evaluation.testset import BackgroundImages, videomatte_main

main = partial(videomatte_main, backgrounds=BackgroundImages, doc=__doc__)


if __name__ == '__main__':
    sys.exit(run_cli(main))
