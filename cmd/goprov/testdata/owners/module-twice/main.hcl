module "a" {
  source = "./modules/env"
}

module "b" {
  source = "./modules/env"
}
