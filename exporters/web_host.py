"""A static host for the page that `export.py --format web` writes, on this machine:

    python -m exporters.web_host rvm_web [--port 8000] [--no-isolation]

Any static host serves the folder; this one adds the headers that make the page cross-origin
isolated (COOP same-origin, COEP require-corp), which threaded WebAssembly needs. Without them
(`--no-isolation`) the page runs WebAssembly on one thread. The tests and the benchmark use it.
"""
import argparse
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict

ISOLATION_HEADERS: Dict[str, str] = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
}


class PageHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm',
                      '.json': 'application/json', '.onnx': 'application/octet-stream'}
    isolated = True

    def end_headers(self) -> None:
        if self.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        self.send_header('Cache-Control', 'no-cache')
        super().end_headers()

    def log_message(self, *args) -> None:  # quiet: the tests watch the requests in the browser
        pass


def serve(folder: str, port: int = 0, isolated: bool = True, host: str = '127.0.0.1') -> ThreadingHTTPServer:
    """Serve `folder` on a thread; the server's `server_address` has the port. `shutdown()` stops it."""
    handler = type('Handler', (PageHandler,), {'isolated': isolated})
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv=None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    cli.add_argument('folder')
    cli.add_argument('--port', type=int, default=8000)
    cli.add_argument('--host', default='127.0.0.1')
    cli.add_argument('--no-isolation', action='store_true', help='leave out COOP/COEP (one WebAssembly thread)')
    args = cli.parse_args(argv)
    server = serve(args.folder, args.port, not args.no_isolation, args.host)
    print(f'serving {args.folder} on http://{args.host}:{server.server_address[1]}/ ; Ctrl-C stops it', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == '__main__':
    main()
