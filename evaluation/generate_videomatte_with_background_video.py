"""VideoMatte240K clips composited over background videos (the paper's VM test sets, moving backgrounds).

Background videos are folders of frames or video files. Writes OUT/NNNN/{fgr,pha,bgr,com}/TTTT.png
(see evaluation/testset.py). For the 512x288 test set:

    python evaluation/generate_videomatte_with_background_video.py \\
        --videomatte-dir VideoMatte240K_JPEG_HD/test --background-dir BackgroundVideos/test \\
        --num-samples 25 --resize 512 288 --out-dir videomatte_512x288/videomatte_motion
"""
import sys
from functools import partial
from pathlib import Path

if __package__ in (None, ''):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.common import run_cli
from evaluation.testset import BackgroundVideos, videomatte_main

main = partial(videomatte_main, backgrounds=BackgroundVideos, doc=__doc__)


if __name__ == '__main__':
    sys.exit(run_cli(main))
