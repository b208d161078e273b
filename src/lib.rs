pub use sgntk_model as model;
