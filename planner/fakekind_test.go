package planner

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

type fakeKind struct{}

func (fakeKind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"path": &hcldec.AttrSpec{Name: "path", Type: cty.String},
		"want": &hcldec.AttrSpec{Name: "want", Type: cty.String},
	}
}

func (fakeKind) New(addr string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	return &fakeRes{path: v.GetAttr("path").AsString(), want: v.GetAttr("want").AsString()}, nil
}
