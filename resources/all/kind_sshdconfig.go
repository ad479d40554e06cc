package all

import (
	_ "github.com/goprov/goprov/resources/sshdconfig" // sshd_config
)
