"""A BERT classifier whose head reads the attention-masked mean of the last hidden state.

Written by `attn train bert --pooling mean` beside config.json and model.safetensors, so that
Hugging Face transformers computes what `attn predict` computes. HF's own
BertForSequenceClassification pools [CLS] through the pooler and would silently predict
something else; this class is loaded instead with

    AutoModelForSequenceClassification.from_pretrained(RUN_DIR, trust_remote_code=True)
    pipeline("text-classification", model=RUN_DIR, trust_remote_code=True)

and without trust_remote_code HF refuses the directory (its model_type is `attn_bert`).
"""
import torch
from torch import nn
from transformers import BertConfig
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertModel, BertPreTrainedModel


class AttnBertConfig(BertConfig):
    """BertConfig under its own model_type, so that HF never maps it to its [CLS] head."""

    model_type = "attn_bert"


class AttnBertForSequenceClassification(BertPreTrainedModel):
    """BERT, the masked mean of its last hidden state, dropout and a linear classifier."""

    config_class = AttnBertConfig

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.config = config
        self.bert = BertModel(config)
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
        else:
            mask = attention_mask.to(hidden.dtype)
        mask = mask.unsqueeze(-1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
