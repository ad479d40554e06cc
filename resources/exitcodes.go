package resources

import "fmt"

// Exit codes of goprov's own host scripts: what went wrong, told to the
// controller. They are named once here; a script prints them with %d (or
// Exit / SignalTrap), and Go code compares with these names, never with a
// bare number (TestScriptExitCodesAreNamed fails on a literal). 1 and 2
// stay the tools' own "failed" and "usage".
const (
	// ExitValidate: the candidate failed its check before taking effect
	// (sh -n, visudo -cf, sshd -t); nothing was changed.
	ExitValidate = 3
	// ExitNotFile: the path is a directory, not a file.
	ExitNotFile = 4
	// ExitRestored: the check after the change failed and the previous
	// state was put back (WriteFile's After; a sudoers removal refused).
	ExitRestored = 5
	// ExitShortWrite: the content arrived short or with another checksum.
	ExitShortWrite = 6
	// ExitChanged: the file changed since it was read (IfUnchanged).
	ExitChanged = 7
	// ExitDeadManFired: the dead-man timer already fired (the rollback ran
	// or is running), so there is nothing left to cancel or re-arm.
	ExitDeadManFired = 8
	// ExitDeadManArmed: another rollback timer is armed on the host.
	ExitDeadManArmed = 9
	// ExitToolMissing: a tool the script needs is not on the host.
	ExitToolMissing = 20
	// ExitSignalled: the script was interrupted (SIGHUP, SIGINT, SIGTERM,
	// SIGPIPE) and cleaned up.
	ExitSignalled = 129
)

// Exit is the shell statement that exits with code.
func Exit(code int) string { return fmt.Sprintf("exit %d", code) }

// SignalTrap is the trap line that, on SIGHUP, SIGINT, SIGTERM or SIGPIPE,
// runs cleanup (if any) and exits ExitSignalled.
func SignalTrap(cleanup string) string {
	if cleanup != "" {
		cleanup += "; "
	}
	return fmt.Sprintf("trap '%s%s' HUP INT TERM PIPE\n", cleanup, Exit(ExitSignalled))
}
