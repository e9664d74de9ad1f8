"""ImageMatte stills, given training's eased affine motion, composited over background videos (AIM/D646 sets).

Two samples per still (the second mirrored), square frames; background videos are folders of frames
or video files. Writes OUT/NNNN/{fgr,pha,bgr,com}/TTTT.png (see evaluation/testset.py). For example:

    python evaluation/generate_imagematte_with_background_video.py \\
        --imagematte-dir ImageMatte/test --background-dir BackgroundVideos/test \\
        --resolution 512 --out-dir imagematte_512x512/imagematte_motion
"""
import sys
from functools import partial
from pathlib import Path

if __package__ in (None, ''):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.common import run_cli
from evaluation.testset import BackgroundVideos, imagematte_main

main = partial(imagematte_main, backgrounds=BackgroundVideos, doc=__doc__)


if __name__ == '__main__':
    sys.exit(run_cli(main))
