# Shared by the scripts: sourced, not run.

# Lab nodes mount private /tmp and /run over the host's, so the wend binary they run must live
# elsewhere. A checkout under /tmp or /run (CI clones often are) builds into /var/tmp instead.
wend_target_dir() {
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        return
    fi
    local top
    top=$(pwd -P)
    case "$top" in
        /tmp/*|/run/*)
            CARGO_TARGET_DIR="/var/tmp/wend-target-$(printf '%s' "$top" | sha256sum | cut -c1-12)"
            export CARGO_TARGET_DIR
            echo "note: the checkout is under /tmp or /run (private in lab nodes); building into $CARGO_TARGET_DIR"
            ;;
    esac
}
