package all

import (
	_ "github.com/goprov/goprov/resources/sysctl" // sysctl
)
