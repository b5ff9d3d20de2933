#!/usr/bin/env bash
# Refreshes service/static/vendor from the npm registry: Swagger UI for /docs, and the
# exact files Strawberry's GraphiQL page names (so its SRI hashes keep matching).
# Run by `make vendor-assets` after upgrading strawberry-graphql or Swagger UI; needs npm.
set -euo pipefail
SWAGGER_UI=swagger-ui-dist@5.35.0
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/service/static/vendor"
py="${PYTHON:-$here/.venv/bin/python}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "react@18.2.0/umd/react.production.min.js", ... as the page names them.
mapfile -t files < <("$py" - <<'PY'
import re
from strawberry.http.ides import get_graphql_ide_html
for path in sorted(set(re.findall(r"https://unpkg\.com/([^\"']+)", get_graphql_ide_html("graphiql")))):
    print(path)
PY
)
files+=("$SWAGGER_UI/swagger-ui-bundle.js" "$SWAGGER_UI/swagger-ui.css" "$SWAGGER_UI/favicon-32x32.png")

rm -rf "$dest"
for file in "${files[@]}"; do
  parts=1; [[ $file == @* ]] && parts=2  # a scoped package's name has a slash
  pkg=$(cut -d/ -f1-$parts <<<"$file"); rest=$(cut -d/ -f$((parts + 1))- <<<"$file")
  if [[ ! -d "$work/$pkg" ]]; then
    mkdir -p "$work/$pkg"
    (cd "$work/$pkg" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
    mkdir -p "$dest/$pkg"
    cp "$work/$pkg"/package/LICENSE* "$dest/$pkg/" 2>/dev/null || true
  fi
  mkdir -p "$dest/$(dirname "$file")"
  cp "$work/$pkg/package/$rest" "$dest/$file"
done
find "$dest" -type f | sort
