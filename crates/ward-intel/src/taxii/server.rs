pub trait TaxiiBackend {}
