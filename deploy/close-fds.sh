# Sourced by bootstrap.sh, services.sh and second-engine.sh before they start a daemon.
#
# close_fds — closes every descriptor of this shell above 2. For a subshell about to become a
# daemon: one that inherits a caller's descriptor keeps it open as long as it runs (a flock
# never released, a $(...) or a test's pipe that never sees EOF).
close_fds() {
	local fd
	for fd in $(ls /proc/$BASHPID/fd); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || :
	done
}
