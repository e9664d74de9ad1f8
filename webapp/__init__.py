"""The local web app (`python app.py`): convert videos and matte the webcam in the browser.

    jobs      the queue's jobs: unguessable ids, one folder each, cancelling, retention clean-up
    inputs    what a user may hand in: uploads copied under fixed names, zips of images, --media-root
    convert   one conversion job on the streaming core: plan, first-frame preview, run with progress
    webcam    real-time matting of a browser's camera, fps and latency, the recurrent-state view
    browser   the in-browser page (export.py --format web) at /browser/, with cross-origin isolation
    ui        the Gradio Blocks: the Convert and Webcam tabs, a link to the in-browser page

See documentation/app.md for how to start it and its limits.
"""
