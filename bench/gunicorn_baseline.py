"""gunicorn settings of the benchmark's baseline (bench/baseline_app.py): 2 sync workers on PORT."""

import os

wsgi_app = "bench.baseline_app:app"
bind = [f"127.0.0.1:{os.environ['PORT']}"]
workers = 2
worker_class = "sync"
