DROP TABLE pass_models;
