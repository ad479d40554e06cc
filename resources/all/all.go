// Package all links every resource kind into a binary.
package all

import (
	_ "github.com/goprov/goprov/resources/profilescript" // profile_script
)
