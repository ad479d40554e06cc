package all

import (
	_ "github.com/goprov/goprov/resources/gotoolchain" // go_toolchain
)
