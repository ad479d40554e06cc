package all

import (
	_ "github.com/goprov/goprov/resources/profilescript" // profile_script
)
