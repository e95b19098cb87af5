#!/bin/sh
# Builds the web UI's JavaScript bundle from npm packages (package.json / package-lock.json) into
# review_ui/static/build/ (gitignored). One command, called by the Makefile:
#     sh scripts/build_assets.sh
# `npm ci` installs exactly what package-lock.json pins; pass --no-install to reuse node_modules.
set -eu
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-install" ]; then
    # --ignore-scripts: esbuild's postinstall only double-checks its platform binary, which npm
    # already installs as an optional dependency; no package gets to run code at install time.
    npm ci --no-audit --no-fund --ignore-scripts
fi

mkdir -p review_ui/static/build
# Tree-shaken: only Uppy's core, Dashboard and Tus plugins (and the zh_CN locale) end up in the
# bundle, about half the size of uppy's all-plugins dist/uppy.min.mjs.
node_modules/.bin/esbuild review_ui/assets/upload.js \
    --bundle --minify --format=esm --target=es2020 --sourcemap \
    --legal-comments=linked \
    --outfile=review_ui/static/build/upload.js
node_modules/.bin/esbuild review_ui/assets/charts.js --bundle --minify --format=esm --target=es2020 --sourcemap --legal-comments=linked --outfile=review_ui/static/build/charts.js
node_modules/.bin/esbuild review_ui/assets/likes_chart.js --bundle --minify --format=esm --target=es2020 --sourcemap --legal-comments=linked --outfile=review_ui/static/build/likes_chart.js
