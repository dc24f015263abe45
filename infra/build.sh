#!/usr/bin/env bash
# Builds one of the project's images with the local engine (infra/engine.sh), on a machine that may reach no
# image registry (the base comes from infra/base.sh). Idempotent: an unchanged tree is served from the
# engine's layer cache in seconds.
#   infra/build.sh mtst   [TAG]   the components' image (TORCH_VARIANT=cpu|cuda, default cpu)
#   infra/build.sh mlflow [TAG]   the MLflow tracking server (infra/Dockerfile.mlflow)
#   infra/build.sh serving [TAG]  the model server: MLServer + mtst's runtime, no torch (infra/Dockerfile.serving)
# It stages build/image/ (the build context's extras; see infra/Dockerfile): torch's local CPU wheel from
# pip's find-links folders, this machine's extra CA certificates (for PyPI behind a TLS-inspecting proxy;
# they stay in the build stage) and the pinned source archives of .cache/sources. Prints the image, its size
# and the build time on stderr; the image name on stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
WHAT="${1:?usage: infra/build.sh mtst|mlflow|serving [TAG]}"
# One build at a time on this checkout (they share build/image/): `make test` builds the images in the
# background while the suite runs, and the container tests' own build call waits here, then finds the cache.
mkdir -p build
exec 9> build/.build.lock
flock 9
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
TORCH_VARIANT="${TORCH_VARIANT:-cpu}"
case "$WHAT" in
    mtst) TAG="${2:-mtst:$VERSION-$TORCH_VARIANT}"; DOCKERFILE=infra/Dockerfile ;;
    mlflow) TAG="${2:-mtst-mlflow-server:$(sed -n 's/^mlflow==\([^ ]*\).*/\1/p' infra/requirements-mlflow.lock)}"
            DOCKERFILE=infra/Dockerfile.mlflow ;;
    serving) TAG="${2:-mtst-serving:$VERSION}"; DOCKERFILE=infra/Dockerfile.serving ;;
    *) echo "error: unknown image '$WHAT' (mtst, mlflow or serving)" >&2; exit 2 ;;
esac

bash infra/engine.sh
BASE="$(bash infra/base.sh)"

# build/image/: rebuilt each time from hard links (no copy of the 190 MB wheel); unchanged files keep the
# layer cache valid.
STAGE=build/image
rm -rf "$STAGE.new" && mkdir -p "$STAGE.new/wheels" "$STAGE.new/ca" "$STAGE.new/sources"
link() { ln -f "$1" "$2" 2> /dev/null || cp -p "$1" "$2"; }
BUILD_ARGS=(--build-arg BASE_IMAGE="$BASE")
if [ "$WHAT" = mtst ]; then
    BUILD_ARGS+=(--build-arg TORCH_VARIANT="$TORCH_VARIANT")
fi
if [ "$WHAT" = mtst ] && [ "$TORCH_VARIANT" = cpu ]; then
    torch="$(sed -n 's/^torch==\([^ ]*\).*/\1/p' requirements.lock)"
    # pip's find-links folders: its configuration and PIP_FIND_LINKS
    folders="$(python3 -m pip config list 2> /dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | tr ' ' '\n'; \
               tr ' ' '\n' <<< "${PIP_FIND_LINKS:-}")"
    for folder in $folders; do
        for wheel in "$folder"/torch-"$torch"+cpu-cp311-*.whl; do
            [ -f "$wheel" ] && link "$wheel" "$STAGE.new/wheels/$(basename "$wheel")"
        done
    done
    if ls "$STAGE.new"/wheels/*.whl > /dev/null 2>&1; then
        BUILD_ARGS+=(--build-arg TORCH_INDEX=)  # the wheel is here: no need for PyTorch's index
    fi
fi
for cert in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$cert" ] && link "$cert" "$STAGE.new/ca/$(basename "$cert")"
done
if [ "$WHAT" = mtst ]; then
    for archive in .cache/sources/*; do
        [ -f "$archive" ] && link "$archive" "$STAGE.new/sources/$(basename "$archive")"
    done
fi
rm -rf "$STAGE" && mv "$STAGE.new" "$STAGE"

echo "building $TAG from $DOCKERFILE on $BASE" >&2
start=$(date +%s)
log="build/$WHAT-build.log"
# The classic builder (no BuildKit / buildx needed); the host's network for apt and PyPI.
if ! DOCKER_BUILDKIT=0 docker build --network host -f "$DOCKERFILE" -t "$TAG" \
        "${BUILD_ARGS[@]}" \
        --label org.opencontainers.image.version="$VERSION" . > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: docker build of $TAG failed (full log: $log)" >&2
    exit 1
fi
seconds=$(( $(date +%s) - start ))
size="$(docker image inspect --format '{{.Size}}' "$TAG")"
steps="$(grep -c '^Step ' "$log" || true)"
ran="$(grep -c -- '---> Running in ' "$log" || true)"  # steps that ran a container (not served from the cache)
cached="$(grep -c -- '---> Using cache' "$log" || true)"
echo "built $TAG: $(( size / 1000000 )) MB, ${seconds} s ($steps steps: $ran run, $cached from the cache)" >&2
echo "$TAG"
