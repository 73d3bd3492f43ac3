//! One module per wire protocol; each only decodes requests into a conversation and encodes plans.

pub mod bedrock;
pub mod openai;
pub mod sagemaker;
