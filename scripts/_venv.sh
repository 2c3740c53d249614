# Shared by scripts/demo.sh and scripts/test.sh: make .venv and install the project into it.
# The install is repeated only when pyproject.toml changes.
ensure_venv() {
    local extras="$1"
    local stamp=".venv/.installed-${extras:-runtime}"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}
