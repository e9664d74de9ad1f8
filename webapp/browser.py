"""The in-browser page (`export.py --format web`) at /browser/: the app's models exported on the first
visit, then served as static files with the cross-origin isolation headers that threaded WebAssembly
needs. Until the export is done (about a minute a model), the address says so and reloads itself.
"""
import threading
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from exporters.web_host import ISOLATION_HEADERS

from .models import Models

PREPARING = ('<!doctype html><meta http-equiv="refresh" content="5"><title>Preparing</title>'
             '<p>The in-browser page is being exported for this server\'s models (about a minute each); '
             'this page reloads itself.</p>')


class IsolatedFiles(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.update(ISOLATION_HEADERS)
        return response


class BrowserPage:
    """An ASGI app: the page's folder once exported, a 'being prepared' page (503) before."""

    def __init__(self, models: Models, folder: Path):
        self.models = models
        self.folder = folder
        self.files = IsolatedFiles(directory=str(folder), html=True, check_dir=False)
        self.ready = threading.Event()
        self.error = None
        self._started = threading.Lock()
        self._thread = None

    def route(self) -> Mount:
        return Mount('/browser', app=self)

    def _export(self) -> None:
        from exporters.web import export_web
        from model import create_model
        try:
            for name, source in self.models.sources.items():
                with self.models.lock:  # a job or webcam frame waits, rather than sharing the CPU
                    export_web(create_model(**source), str(self.folder), source.get('checkpoint'), device='cpu')
            self.ready.set()
        except Exception as e:  # shown in the page instead of a page that never comes
            self.error = str(e).splitlines()[0] if str(e) else type(e).__name__

    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._export, name='browser-page', daemon=True)
                self._thread.start()

    async def __call__(self, scope, receive, send):
        if not self.ready.is_set():
            self.start()
            body = PREPARING if self.error is None else f'<p>The in-browser page could not be made: {self.error}</p>'
            response = HTMLResponse(body, status_code=503, headers=ISOLATION_HEADERS)
            await response(scope, receive, send)
            return
        await self.files(scope, receive, send)
