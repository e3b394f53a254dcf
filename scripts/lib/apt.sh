# apt_install PACKAGE... installs Debian packages for the test tools, without
# starting the services they ship. Sourced by the scripts that need a tool.
apt_install() {
	[ "$(id -u)" -eq 0 ] || { echo "$0: installing $* needs root" >&2; return 1; }
	echo "$0: installing $* from apt" >&2
	# Debian's packages ask no questions, but a noninteractive frontend makes
	# sure a future one cannot hang an unattended run. The lock timeout lets
	# this wait for another apt run on the same machine instead of failing.
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q -o DPkg::Lock::Timeout=300 >&2
	# Postinst scripts start the system-wide services (and some fail the install
	# when that fails). A policy-rc.d that says 101 tells invoke-rc.d not to;
	# container images ship one, a fresh machine may not, so one is put in place
	# for the install alone.
	local policy=/usr/sbin/policy-rc.d added=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		added=1
	fi
	local rc=0
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >&2 || rc=$?
	if [ -n "$added" ]; then
		rm -f "$policy"
	fi
	[ "$rc" -eq 0 ] || { echo "$0: apt-get install $* failed (exit $rc)" >&2; return 1; }
}
