# The image's environment in login shells (an SSH login, `bash -l`, JupyterLab's Terminal): /etc/profile has just
# reset PATH, so the venv's python and pip (and nvcc in devel) would be gone. /opt/imgbuild/session.env holds the
# Dockerfile's ENV values, written at build time. PATH is the image's; any other variable the container was started
# with (`docker run -e`) keeps its value. POSIX sh: dash reads this too.
if [ -r /opt/imgbuild/session.env ]; then
  while IFS= read -r imgbuild_line; do
    imgbuild_name=${imgbuild_line%%=*}
    if [ "$imgbuild_name" = PATH ] || eval "[ -z \"\${$imgbuild_name+set}\" ]"; then
      export "$imgbuild_line"
    fi
  done < /opt/imgbuild/session.env
  unset imgbuild_line imgbuild_name
fi
