# What the pipeline in .github/workflows/goprov.yml keeps the hosts at.
# A change here is a pull request: CI validates it, posts the plan, and
# applies exactly that plan once it is merged and approved.

module "sudo" {
  source       = "../../modules/sudo-audit-baseline"
  targets      = [group.web]
  name         = "webops"
  users        = ["%webops"]
  service_user = "www-data"
  commands     = ["/usr/bin/systemctl reload nginx"]
}

module "fw" {
  source = "../../modules/firewall-baseline"
}

resource "profile_script" "managed" {
  name = "managed-by"
  env = {
    MANAGED_BY = "goprov (examples/gitops)"
  }
}
