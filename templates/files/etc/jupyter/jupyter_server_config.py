# JupyterLab in imgbuild images: listens on $JUPYTER_PORT, auth always on.
import os

c = get_config()  # noqa: F821 (provided by Jupyter)

token = os.environ.get("JUPYTER_TOKEN", "")
if not token:
    # An empty token turns authentication off; refuse to start rather than serve an open notebook.
    raise SystemExit("imgbuild: JUPYTER_TOKEN is empty; set it or start with imgbuild-start, which makes one")

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/workspace"
c.ServerApp.allow_remote_access = True
c.IdentityProvider.token = token
c.PasswordIdentityProvider.hashed_password = ""
c.PasswordIdentityProvider.allow_password_change = False
