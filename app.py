"""The web app: convert videos and matte the webcam in the browser, on this machine.

    python app.py                                   # http://127.0.0.1:7860, the published mobilenetv3
    python app.py --variant mobilenetv3 --variant resnet50        # both published models
    python app.py --checkpoint rvm_resnet50.pth --media-root ~/Videos
    python app.py --host 0.0.0.0 --port 8080        # reachable from other machines (a warning says so)

See documentation/app.md (and webapp/ for the parts).
"""
import argparse
import ipaddress
import os
import signal
import sys
import tempfile
from typing import Optional, Sequence

from model.factory import add_model_arguments
from streaming.options import ConversionOptions, add_arguments, from_arguments


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog='app.py', description=__doc__.split('\n\n')[0])
    result.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default 127.0.0.1: this machine only)')
    result.add_argument('--port', type=int, default=7860, help='default 7860')
    add_model_arguments(result, refiner=False, several=True)
    add_arguments(result, ConversionOptions, only=('engine', 'precision'))
    result.add_argument('--media-root', help='a folder whose videos and image folders the page may pick '
                                             '(nothing outside it is reachable)')
    result.add_argument('--max-upload-mb', type=float, default=500, help='largest upload (default 500 MB)')
    result.add_argument('--max-seconds', type=float, default=600,
                        help='longest input video, in seconds (default 600)')
    result.add_argument('--retention-minutes', type=float, default=60,
                        help='how long a job\'s folder (uploads, results) is kept (default 60)')
    result.add_argument('--jobs-dir', default=tempfile.gettempdir(),
                        help='where the jobs\' folder is made (default: the temp dir)')
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    cli = parser()
    args = cli.parse_args(argv)
    if args.media_root is not None and not os.path.isdir(args.media_root):
        cli.error(f'--media-root {args.media_root} is not a folder')
    return args


def is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == 'localhost'


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from webapp.jobs import Jobs  # after parsing: --help stays fast
    jobs = Jobs(args.retention_minutes * 60, args.jobs_dir)
    os.environ.setdefault('GRADIO_TEMP_DIR', str(jobs.root / 'uploads'))  # uploads age out with the jobs
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    from webapp.browser import BrowserPage
    from webapp.models import Models
    from webapp.ui import CSS, Settings, build
    from model import CheckpointError
    from streaming import ConversionError

    try:
        options = from_arguments(ConversionOptions, args)  # device, engine, precision
        options.check(cli=True)
        models = Models(args.checkpoint, args.model_variant, options)
        models.load_all()
    except (CheckpointError, ConversionError, OSError) as e:
        sys.exit(f'app.py: error: {e}')
    if not is_local(args.host):
        print(f'app.py: warning: listening on {args.host}: anyone who can reach this machine on port {args.port} '
              f'can use the app (there is no login). For a remote GPU, prefer an SSH tunnel.', file=sys.stderr)
    jobs.start_cleaner()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as Ctrl-C: the server closes, job folders go
    app = build(models, jobs, Settings(args.media_root, args.max_upload_mb, args.max_seconds))
    app.queue(default_concurrency_limit=1)
    browser_page = BrowserPage(models, jobs.root / 'browser')  # /browser/: exported on the first visit
    try:
        app.launch(server_name=args.host, server_port=args.port, max_file_size=f'{args.max_upload_mb:g}mb',
                   allowed_paths=[str(jobs.root)], css=CSS, footer_links=[], quiet=True, prevent_thread_lock=True,
                   app_kwargs={'routes': [browser_page.route()]})  # ahead of Gradio's own routes
        print(f'Robust Video Matting app on {app.local_url} (models: {", ".join(models.names)}; '
              f'device {models.device}); Ctrl-C stops it', flush=True)
        app.block_thread()
    finally:
        app.close()
        jobs.remove_all()


if __name__ == '__main__':
    main()
