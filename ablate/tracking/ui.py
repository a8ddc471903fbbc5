"""`ablate ui`: MLflow's own UI over the project's store, opening a study on its runs table.

MLflow 3.17's UI chooses an experiment's pages from one per-browser switch, "GenAI | Model training"
(localStorage `mlflow.workflowType_v1`, default GenAI), not from the experiment's `mlflow.experimentKind`
tag (the writer still sets that tag: it is what the UI's own kind selector writes, and what earlier and
later UIs read). So a fresh browser opens every ablate study on the GenAI "usage" page. `ablate ui` serves
MLflow's app (`app` below) with one change: the page sets that switch to "Model training" when the browser
has no choice stored yet (a choice the user makes is kept). Everything else is `mlflow ui` as it is; if a
future MLflow moves the private function this hooks, `ablate ui` runs plain `mlflow ui` and prints the
runs-table link (`?workflowType=machine_learning`), which works either way.
"""

from __future__ import annotations

import os
import sys

WORKFLOW_KEY, TRAINING = "mlflow.workflowType_v1", "machine_learning"
SCRIPT = (f'<script>try{{if(!localStorage.getItem("{WORKFLOW_KEY}"))localStorage.setItem("{WORKFLOW_KEY}",'
          f'JSON.stringify("{TRAINING}"))}}catch(e){{}}</script>')
LANDING_ENV = "ABLATE_UI_LANDING"  # the experiment id the bare address opens (cmd_ui: the latest study)


def landing_script(experiment_id: str) -> str:
    """The bare address (`/`, no route) opens that study's runs table instead of MLflow's home page."""
    if not experiment_id.isdigit():
        return ""
    route = f"#/experiments/{experiment_id}/runs?workflowType={TRAINING}"
    return f'<script>if(["","#","#/"].indexOf(location.hash)>=0)location.replace("{route}")</script>'


MLFLOW_APP = "mlflow.server.fastapi_app:app"
APP = f"{__name__}:app"
JOB_EXECUTION_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def runs_url(base: str, experiment_id: str) -> str:
    """A study's runs table, whatever the browser's switch says."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType={TRAINING}"


def _inject(response):
    """Flask after_request: the landing page (index.html) gets SCRIPT at the top of its <head>."""
    if response.status_code != 200 or response.mimetype != "text/html":
        return response
    response.direct_passthrough = False
    body = response.get_data(as_text=True)
    if "<head>" in body and SCRIPT not in body:
        extra = landing_script(os.environ.get(LANDING_ENV, ""))
        response.set_data(body.replace("<head>", "<head>" + SCRIPT + extra, 1))
        response.headers["Cache-Control"] = "no-cache"
    return response


def serve(uri: str, host: str, port: int, workers: int = 1, landing: str = "") -> None:
    """Run MLflow's `ui` command in this process, its uvicorn serving `app` (this module's) instead of
    MLflow's own; one worker by default (MLflow's four each load the whole app: slow on a laptop).
    `landing`: the experiment id the bare address opens on its runs table."""
    if landing:
        os.environ[LANDING_ENV] = landing  # read in the uvicorn process, which inherits it
    # MLflow's job runner (eight processes for GenAI scorers and judges) has nothing to do for a training
    # store and doubles the start-up time on a laptop; MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true brings it back
    os.environ.setdefault(JOB_EXECUTION_ENV, "false")
    import mlflow.server as server
    from mlflow.cli import cli

    build = getattr(server, "_build_uvicorn_command", None)
    if build is not None:
        def ours(*args, **kwargs):
            return [APP if part == MLFLOW_APP else part for part in build(*args, **kwargs)]

        server._build_uvicorn_command = ours
    else:
        print("ablate ui: this MLflow has no hook for the landing page; open a study with its runs link "
              f"({runs_url(f'http://{host}:{port}', '<experiment id>')})", file=sys.stderr)
    try:
        cli.main(["ui", "--backend-store-uri", uri, "--host", host, "--port", str(port), "--workers",
                  str(workers)], prog_name="mlflow ui")
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: the server stops, nothing else to say
        pass


def _app():
    from mlflow.server import app as flask_app
    from mlflow.server.fastapi_app import app as asgi_app

    flask_app.after_request(_inject)
    return asgi_app


def __getattr__(name: str):  # `app` is built on first use, in the uvicorn process only
    if name == "app":
        globals()["app"] = _app()
        return globals()["app"]
    raise AttributeError(name)
