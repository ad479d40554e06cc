package resources

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// A lint that reads an attribute its kind's schema does not have (one
// renamed in the schema but not in the lint) must not read it as "not
// set": that would silently stop linting it. It fails loudly, so every
// kind's lint test catches the rename.
func TestAttrNotInSchema(t *testing.T) {
	v := cty.ObjectVal(map[string]cty.Value{"fetch_mode": cty.StringVal("host"), "unset": cty.NullVal(cty.String)})
	if got := AttrString(v, "unset"); got != "" {
		t.Errorf("a null attribute reads %q, want \"\"", got)
	}
	if got := AttrString(v, "fetch_mode"); got != "host" {
		t.Errorf("fetch_mode reads %q", got)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), `attribute "fetch" is not in the value's schema`) {
			t.Errorf("reading an attribute the schema lacks: recovered %v, want a panic naming it", r)
		}
	}()
	got := AttrString(v, "fetch")
	t.Errorf("reading an attribute the schema lacks returned %q", got)
}
