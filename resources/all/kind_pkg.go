package all

import (
	_ "github.com/goprov/goprov/resources/pkg" // package
)
