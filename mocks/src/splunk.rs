//! PLACEHOLDER: the splunk mock.
