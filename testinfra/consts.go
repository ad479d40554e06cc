package testinfra

// Users that exist on every lab host.
const (
	UserRoot   = "root"
	UserDeploy = "deploy" // NOPASSWD sudo
	UserOps    = "ops"    // sudo with password
	// OpsPassword is hostile on purpose: tests prove it is never executed.
	OpsPassword = `p@ss w;o'r"d $(touch /tmp/pwned) x`
)

// Users whose login shell is not bash (sshd hands them the exec line to
// parse): "<shell>-deploy" has NOPASSWD sudo like deploy, "<shell>-ops" sudo
// with OpsPassword like ops. Every lab key logs them in.
const (
	UserFishDeploy = "fish-deploy"
	UserFishOps    = "fish-ops"
	UserTcshDeploy = "tcsh-deploy"
	UserTcshOps    = "tcsh-ops"
	UserZshDeploy  = "zsh-deploy"
	UserZshOps     = "zsh-ops"
)

// ShellUsers are the users above with their fixed UIDs (from the base image).
var ShellUsers = []struct {
	Name string
	UID  int
}{
	{UserFishDeploy, 1011}, {UserFishOps, 1012},
	{UserTcshDeploy, 1013}, {UserTcshOps, 1014},
	{UserZshDeploy, 1015}, {UserZshOps, 1016},
}
