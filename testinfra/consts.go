package testinfra

// Users that exist on every lab host.
const (
	UserRoot   = "root"
	UserDeploy = "deploy" // NOPASSWD sudo
	UserOps    = "ops"    // sudo with password
	// OpsPassword is hostile on purpose: tests prove it is never executed.
	OpsPassword = `p@ss w;o'r"d $(touch /tmp/pwned) x`
)
