package all

import (
	_ "github.com/goprov/goprov/resources/firewall" // firewall, firewall_rule
)
