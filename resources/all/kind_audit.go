package all

import (
	_ "github.com/goprov/goprov/resources/audit" // audit_rules
)
