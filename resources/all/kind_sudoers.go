package all

import (
	_ "github.com/goprov/goprov/resources/sudoers" // sudoers_dropin
)
