#!/usr/bin/env bash
# Writes .dvc/plots/offline.html: the page `dvc plots show` fills (config plots.html_template), with vega,
# vega-lite and vega-embed inlined from their npm packages, so the plots draw without a network. The
# versions are the ones dvc-render's own page loads from a CDN. Run from the project root; needs npm.
set -euo pipefail
versions=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=.dvc/plots/offline.html
licenses=.dvc/plots/vendor
mkdir -p "$licenses"
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n{refresh_tag}\n<title>DiffDefense plots</title>\n'
  printf '<!-- %s, inlined by scripts/vendor_vega.sh (licences in .dvc/plots/vendor/) -->\n' "${versions[*]}"
  for package in "${versions[@]}"; do
    name=${package%@*}
    (cd "$work" && npm pack -q "$package" > /dev/null && mkdir "$name" && tar xzf "$name"-*.tgz -C "$name")
    cp "$work/$name/package/LICENSE" "$licenses/LICENSE-$name"
    printf '<script>\n'
    cat "$work/$name/package/build/$name.min.js"
    printf '\n</script>\n'
  done
  printf '<style>\nbody { font-family: sans-serif; }\ntable { border-spacing: 15px; }\n</style>\n</head>\n<body>\n'
  printf '<h1>DiffDefense plots</h1>\n{plot_divs}\n</body>\n</html>\n'
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
