# want: mod/main.hcl:1:1 No value for required variable
module "m" {
  source = "./mod"
}
