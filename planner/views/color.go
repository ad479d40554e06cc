package views

import "github.com/goprov/goprov/resources"

// SGR colours, as Terraform and Ansible users know them: additions green,
// removals and failures red, changes yellow, headers bold.
const (
	bold   = "1"
	red    = "31"
	green  = "32"
	yellow = "33"
	cyan   = "36"
)

var actionColor = map[resources.Action]string{
	resources.Create: green,
	resources.Update: yellow,
	resources.Delete: red,
}

// paint wraps s (already inert) in colour c when colour is on.
func (t Text) paint(c, s string) string {
	if !t.Color || c == "" || s == "" {
		return s
	}
	return "\x1b[" + c + "m" + s + "\x1b[0m"
}
